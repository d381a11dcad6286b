export { startController, type RunningController } from './controller.js';
