import { defineConfig } from 'vite';

// The dashboard is served by the controller at / of the API's own address (same origin).
export default defineConfig({
  base: '/',
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', sourcemap: false },
});
