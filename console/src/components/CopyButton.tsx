import { useState } from "react";

/**
 * Copies text to the clipboard without showing it. `text` may be a function
 * so a value is fetched (and audited) only when the user asks to copy.
 */
export function CopyButton(props: { text: string | (() => Promise<string | null>); label: string }) {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  return (
    <button
      type="button"
      aria-label={props.label}
      onClick={async () => {
        try {
          const text = typeof props.text === "string" ? props.text : await props.text();
          if (text === null) return;
          await navigator.clipboard.writeText(text);
          setState("copied");
        } catch {
          setState("failed");
        }
        window.setTimeout(() => setState("idle"), 2000);
      }}
    >
      {state === "copied" ? "Copied" : state === "failed" ? "Copy failed" : "Copy"}
      <span className="visually-hidden" aria-live="polite">
        {state === "copied" ? "copied to the clipboard" : ""}
      </span>
    </button>
  );
}
