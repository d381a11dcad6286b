/** One argument as /bin/sh reads it back unchanged: bare when that is safe, else in single quotes. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_\-+=.,/:@%^]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** An exec-form command (an image's ENTRYPOINT then CMD) as the shell command line that runs the same argv. */
export function shellCommand(argv: string[]): string {
  return argv.map(shellQuote).join(' ');
}
