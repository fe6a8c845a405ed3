// Export files, formatted here in the page from an audited secretValues read.
// Each format must read back exactly: the dotenv text follows the server's own
// writer (graphql_api/client/dotenv.py format_dotenv), so importing an export
// gives the same values; YAML uses only double-quoted scalars, which every
// YAML reader takes as strings (no `yes`, `0x1`, `~` surprises).

export type ExportFormat = "dotenv" | "json" | "yaml";

export interface NamedValue {
  name: string;
  value: string;
}

export const EXPORT_FORMATS: Record<ExportFormat, { label: string; extension: string; mime: string }> = {
  dotenv: { label: ".env (dotenv)", extension: "env", mime: "text/plain" },
  json: { label: "JSON", extension: "json", mime: "application/json" },
  yaml: { label: "YAML", extension: "yaml", mime: "application/yaml" },
};

// Values every dotenv reader takes literally without quotes (the server's _BARE).
const BARE = /^[A-Za-z0-9_@%+,./:=-]+$/;

/** One KEY=value line per secret, quoted the way the server's parser reads back exactly. */
export function formatDotenv(entries: readonly NamedValue[]): string {
  return entries
    .map(({ name, value }) => {
      if (value === "" || BARE.test(value)) return `${name}=${value}\n`;
      // Single quotes are literal for every reader, as long as the value has
      // no single quote, backslash or line end of its own.
      if (!/['\\\r\n]/.test(value)) return `${name}='${value}'\n`;
      const escaped = value
        .replace(/\\/g, "\\\\")
        .replace(/"/g, '\\"')
        .replace(/\n/g, "\\n")
        .replace(/\r/g, "\\r");
      return `${name}="${escaped}"\n`;
    })
    .join("");
}

export function formatJson(entries: readonly NamedValue[]): string {
  const object: Record<string, string> = {};
  for (const { name, value } of entries) object[name] = value;
  return JSON.stringify(object, null, 2) + "\n";
}

export function formatYaml(entries: readonly NamedValue[]): string {
  return entries.map(({ name, value }) => `${yamlQuoted(name)}: ${yamlQuoted(value)}\n`).join("");
}

const YAML_NAMED_ESCAPES: Record<string, string> = {
  "\\": "\\\\",
  '"': '\\"',
  "\0": "\\0",
  "\x07": "\\a",
  "\b": "\\b",
  "\t": "\\t",
  "\n": "\\n",
  "\v": "\\v",
  "\f": "\\f",
  "\r": "\\r",
  "\x1b": "\\e",
  "\x85": "\\N",
  "\xa0": "\\_",
  "\u2028": "\\L",
  "\u2029": "\\P",
};

/**
 * A YAML double-quoted scalar: backslash and quote escaped, and every
 * character YAML would fold, treat as a line break or refuse as unprintable
 * (C0 and C1 controls, DEL, lone surrogates, U+FEFF, U+FFFE/F) written as an escape.
 */
function yamlQuoted(text: string): string {
  let out = '"';
  for (const char of text) {
    const named = YAML_NAMED_ESCAPES[char];
    if (named) {
      out += named;
      continue;
    }
    const code = char.codePointAt(0) ?? 0;
    const unprintable =
      code < 0x20 ||
      (code >= 0x7f && code <= 0x9f) ||
      (code >= 0xd800 && code <= 0xdfff) ||
      code === 0xfeff ||
      code === 0xfffe ||
      code === 0xffff;
    out += unprintable ? `\\u${code.toString(16).padStart(4, "0")}` : char;
  }
  return out + '"';
}

export function formatExport(format: ExportFormat, entries: readonly NamedValue[]): string {
  switch (format) {
    case "dotenv":
      return formatDotenv(entries);
    case "json":
      return formatJson(entries);
    case "yaml":
      return formatYaml(entries);
  }
}

/** Hands `text` to the browser as a download, keeping it nowhere else. */
export function downloadText(text: string, fileName: string, mime: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: `${mime};charset=utf-8` }));
  const link = document.createElement("a");
  link.href = url;
  link.download = fileName;
  link.rel = "noopener";
  link.click();
  // The download has taken its copy once the click's navigation has started.
  window.setTimeout(() => URL.revokeObjectURL(url), 0);
}
