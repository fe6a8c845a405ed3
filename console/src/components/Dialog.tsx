import { useEffect, useRef } from "react";
import type { ReactNode } from "react";

/** A modal <dialog>: focus moves in, Escape closes, focus returns on close. */
export function Dialog(props: { title: string; open: boolean; onClose: () => void; children: ReactNode }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (props.open && !dialog.open) dialog.showModal();
    if (!props.open && dialog.open) dialog.close();
  }, [props.open]);
  const titleId = `dialog-${props.title.replace(/\W+/g, "-").toLowerCase()}`;
  return (
    <dialog ref={ref} aria-labelledby={titleId} onClose={props.onClose} className="dialog">
      {props.open && (
        <>
          <h2 id={titleId}>{props.title}</h2>
          {props.children}
        </>
      )}
    </dialog>
  );
}

/**
 * Confirmation by typing the exact name of what is about to go for good
 * (destroy): a click alone is not enough.
 */
export function TypedConfirm(props: {
  expected: string;
  action: string;
  busy?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const input = useRef<HTMLInputElement>(null);
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        if (input.current?.value === props.expected) props.onConfirm();
      }}
    >
      <p>
        This cannot be undone. Type <strong className="mono">{props.expected}</strong> to {props.action}.
      </p>
      <label>
        Name to confirm
        <input ref={input} name="confirm" autoComplete="off" spellCheck={false} autoFocus />
      </label>
      <div className="actions">
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
        <button type="submit" className="danger" disabled={props.busy}>
          {props.action}
        </button>
      </div>
    </form>
  );
}
