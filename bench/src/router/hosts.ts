/** The distinct host of the i-th registration that bench/router publishes on NATS. */
export const registrationHost = (i: number): string => `reg-${i}.bench.nap.localhost`;
