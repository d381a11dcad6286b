/** The API token, kept for this browser tab only (sessionStorage): closing the tab signs out. */
const KEY = 'nap.token';

export const session = {
  token: (): string | null => sessionStorage.getItem(KEY),
  signIn: (token: string) => sessionStorage.setItem(KEY, token),
  signOut: () => sessionStorage.removeItem(KEY),
};
