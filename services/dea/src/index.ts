export { startDea, type RunningDea } from './dea.js';
