/**
 * A mail ready to send: subject, the two parts, and the counts it reports. Values a tenant
 * controls (volume names, error messages that quote them) go through `plain` for the text
 * part and `escapeHtml` for the HTML part; neither reaches a header.
 */
export interface MailContent {
  subject: string;
  text: string;
  html: string;
  /** The figures of the subject, kept with the record of the mail. */
  summary: Record<string, number>;
}

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

/**
 * One line of printable text: control characters (a newline in a volume name would start
 * a line of its own, ESC would reach a terminal) become spaces; very long values are cut.
 */
export function plain(value: string, max = 500): string {
  // eslint-disable-next-line no-control-regex -- control characters are what is removed
  const flat = value.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** `plain`, then HTML-escaped. */
export function html(value: string | null | undefined, max = 500): string {
  return value === null || value === undefined ? '-' : escapeHtml(plain(value, max));
}
