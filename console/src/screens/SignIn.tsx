import { useRef, useState } from "react";
import type { SessionGate } from "../session";

/**
 * Sign in with an API token. The field is a password input that the browser
 * is told not to remember; the token goes to the session's memory and the
 * field is cleared, whatever the answer.
 */
export function SignIn(props: { gate: SessionGate }) {
  const input = useRef<HTMLInputElement>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const ended = props.gate.ended;
  return (
    <main className="sign-in">
      <h1>Strongroom</h1>
      {ended?.reason === "unauthenticated" && (
        <section className="notice notice-ended" role="alert" aria-labelledby="ended-title">
          <h2 id="ended-title">Your session has ended</h2>
          <p>
            The server no longer accepts this token: <span className="server-message">{ended.message}</span>.
            Sign in again with a valid token.
          </p>
        </section>
      )}
      {ended?.reason === "signed-out" && (
        <p className="notice" role="status">
          Signed out. The token is gone from this page.
        </p>
      )}
      <form
        className="sign-in-form"
        onSubmit={async (event) => {
          event.preventDefault();
          const field = input.current;
          if (!field) return;
          const token = field.value;
          field.value = "";
          setBusy(true);
          const failure = await props.gate.signIn(token);
          setBusy(false);
          setProblem(failure);
        }}
      >
        <label htmlFor="token">API token</label>
        <input
          id="token"
          ref={input}
          type="password"
          name="token"
          autoComplete="off"
          spellCheck={false}
          required
          aria-describedby="token-help"
          aria-invalid={problem ? true : undefined}
        />
        <p id="token-help" className="muted">
          Kept in this page's memory only; reloading or signing out forgets it.
        </p>
        {problem && (
          <p className="notice notice-error" role="alert">
            {problem}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
