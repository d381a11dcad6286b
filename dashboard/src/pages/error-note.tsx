import type { ApiError } from '../api';

/** An API error as the user needs it: a 403 says so plainly, anything else gives the API's message. */
export function ErrorNote({ error }: { error: ApiError | undefined }) {
  if (!error) return null;
  const text = error.status === 403 ? `Forbidden (403): ${error.message}` : error.status === 404 ? `Not found (404): ${error.message}` : error.message;
  return (
    <p class="error" role="alert">
      {text}
    </p>
  );
}
