console.error('crash-loop: starting, and about to die');
setTimeout(() => process.exit(7), 200);
