import { useState } from 'preact/hooks';

export function SignIn({ error, onToken }: { error?: string; onToken(token: string): void }) {
  const [token, setToken] = useState('');
  return (
    <main class="sign-in">
      <h1>nap</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (token.trim()) onToken(token.trim());
        }}
      >
        <label for="token">Token</label>
        <input id="token" type="password" autocomplete="off" value={token} onInput={(e) => setToken(e.currentTarget.value)} required />
        <p class="hint">An API token: `nap up` logs the admin in (NAP_HOME/admin.token); `nap users create` makes one for a developer. It is kept for this tab only.</p>
        <button type="submit">Sign in</button>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}
