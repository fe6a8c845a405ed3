/** A timestamp shown in the user's locale, with the exact ISO time on hover. */
export function Time(props: { value: string | null | undefined; empty?: string }) {
  if (!props.value) return <span className="muted">{props.empty ?? "never"}</span>;
  const date = new Date(props.value);
  return (
    <time dateTime={props.value} title={props.value}>
      {date.toLocaleString()}
    </time>
  );
}

/** "overdue" / "due" / nothing, for a secret's rotationDueAt. */
export function RotationBadge(props: { dueAt: string | null | undefined; now?: Date; daysAhead?: number }) {
  if (!props.dueAt) return null;
  const now = props.now ?? new Date();
  const due = new Date(props.dueAt);
  if (due <= now) return <span className="badge badge-overdue">rotation overdue</span>;
  const soon = (props.daysAhead ?? 7) * 86_400_000;
  if (due.getTime() - now.getTime() <= soon) return <span className="badge badge-due">rotation due</span>;
  return null;
}
