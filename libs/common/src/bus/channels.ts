import type { z } from 'zod';
import * as msg from './schemas.js';
import { subjects } from './subjects.js';

/**
 * A subject and the schema of what travels on it (and of the answers, for a request): the Bus
 * takes one of these, never a subject and a schema apart, so a message with the wrong body for
 * its subject does not compile.
 */
export interface Channel<S extends z.ZodTypeAny, R extends z.ZodTypeAny = z.ZodNever> {
  readonly subject: string;
  readonly body: S;
  readonly reply: R;
}

/** A channel of this body (and answer); tests make their own on subjects of their own. */
export function channel<S extends z.ZodTypeAny, R extends z.ZodTypeAny = z.ZodNever>(subject: string, body: S, reply?: R): Channel<S, R> {
  return { subject, body, reply: reply as R };
}

/** docs/contract.md §4: every subject nap uses, with its body and its answer. */
export const channels = {
  deaAdvertise: channel(subjects.deaAdvertise, msg.DeaAdvertise),
  deaLocate: channel(subjects.deaLocate, msg.Empty),
  stagingStart: (deaId: string) => channel(subjects.stagingStart(deaId), msg.StagingStart, msg.StagingReply),
  deaStart: (deaId: string) => channel(subjects.deaStart(deaId), msg.DeaStart),
  deaStop: channel(subjects.deaStop, msg.DeaStop),
  deaTask: (deaId: string) => channel(subjects.deaTask(deaId), msg.TaskStart, msg.TaskReply),
  taskCancel: channel(subjects.taskCancel, msg.TaskCancel),
  drainDropped: channel(subjects.drainDropped, msg.DrainDropped),
  deaSsh: (deaId: string) => channel(subjects.deaSsh(deaId), msg.SshOpen, msg.SshOpened),
  sshIn: (session: string) => channel(subjects.sshIn(session), msg.SshIn),
  sshOut: (session: string) => channel(subjects.sshOut(session), msg.SshOut),
  dropletExited: channel(subjects.dropletExited, msg.DropletExited),
  routerRegister: channel(subjects.routerRegister, msg.RouterRegister),
  routerUnregister: channel(subjects.routerUnregister, msg.RouterUnregister),
  routerStart: channel(subjects.routerStart, msg.RouterStart),
  routerGreet: channel(subjects.routerGreet, msg.Empty, msg.RouterStart),
  routerAppStats: channel(subjects.routerAppStats, msg.RouterAppStats),
} as const;
