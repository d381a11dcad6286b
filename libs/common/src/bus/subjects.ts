/** CONTRACT §4: every subject nap uses, in one place. */
export const subjects = {
  deaAdvertise: 'dea.advertise',
  deaLocate: 'dea.locate',
  stagingStart: (deaId: string) => `staging.${deaId}.start`,
  deaStart: (deaId: string) => `dea.${deaId}.start`,
  deaStop: 'dea.stop',
  deaTask: (deaId: string) => `dea.${deaId}.task`,
  taskCancel: 'task.cancel',
  drainDropped: 'drain.dropped',
  deaSsh: (deaId: string) => `dea.${deaId}.ssh`,
  sshIn: (session: string) => `ssh.${session}.in`,
  sshOut: (session: string) => `ssh.${session}.out`,
  dropletExited: 'droplet.exited',
  routerRegister: 'router.register',
  routerUnregister: 'router.unregister',
  routerStart: 'router.start',
  routerGreet: 'router.greet',
} as const;
