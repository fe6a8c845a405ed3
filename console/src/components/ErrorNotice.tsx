import type { CombinedError } from "urql";
import { errorCode, errorMessage } from "../api";

/**
 * A failed operation, as the user should read it: FORBIDDEN gets a screen of
 * its own (what is missing, not a stack), everything else its code and the
 * server's message (which never carries a value or a token).
 */
export function ErrorNotice(props: { error: CombinedError; what?: string }) {
  const code = errorCode(props.error);
  if (code === "FORBIDDEN") {
    return (
      <section className="notice notice-forbidden" role="alert" aria-labelledby="forbidden-title">
        <h2 id="forbidden-title">Not allowed</h2>
        <p>
          Your token's roles do not allow {props.what ?? "this"} here. {errorMessage(props.error)}
        </p>
        <p>Ask an ADMIN of this workspace for the role you need.</p>
      </section>
    );
  }
  return (
    <p className="notice notice-error" role="alert">
      <span className="code">{code}</span> {props.what ? `Could not ${props.what}: ` : ""}
      {errorMessage(props.error)}
    </p>
  );
}
