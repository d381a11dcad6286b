import { badRequest, isAppName } from '@nap/common';
import type { Request } from 'express';

/** The :name of a request, refused with 400 unless it is a valid app name. */
export function appName(req: Request): string {
  const name = String(req.params.name);
  if (!isAppName(name)) {
    throw badRequest('invalid_app_name', `${JSON.stringify(name)} is not a valid app name: use 1-63 lowercase letters, digits and -, not starting or ending with -`);
  }
  return name;
}
