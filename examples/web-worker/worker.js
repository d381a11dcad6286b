// A process with no port: it only writes to its log, which `nap logs` shows.
const index = process.env.NAP_INSTANCE_INDEX;
setInterval(() => console.log(`worker ${index} tick`), 1000);
