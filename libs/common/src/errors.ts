/** An error a caller can act on: its status and code reach the API client as they are. */
export class NapError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'NapError';
  }

  toBody(): { error: { code: string; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

export const badRequest = (code: string, message: string) => new NapError(400, code, message);
export const unauthorized = (message = 'missing or invalid token: run `nap login --token TOKEN`') =>
  new NapError(401, 'unauthorized', message);
export const forbidden = (message: string) => new NapError(403, 'forbidden', message);
export const notFound = (code: string, message: string) => new NapError(404, code, message);
export const conflict = (code: string, message: string) => new NapError(409, code, message);
export const tooLarge = (message: string) => new NapError(413, 'too_large', message);
export const stagingFailed = (message: string) => new NapError(422, 'staging_failed', message);
export const unavailable = (message: string) => new NapError(503, 'unavailable', message);
