// Value syntax shared by swanctl.conf and strongswan.conf (one parser reads both).
import { RenderError } from './render-error.js';

// Characters that need no quoting in a single value (identity, file name, key). Anything else
// (spaces, `#` which starts a comment, `"`, braces, `=` and `,` in DNs, …) is quoted, so it
// can neither change the parse nor be split where swanctl reads a list.
const BARE_VALUE = /^[A-Za-z0-9_.:\/@%*+-]+$/;

/** A value as swanctl must see it: bare when safe, else double-quoted with `\` and `"` escaped. */
export function confValue(value: string, what: string): string {
  if (BARE_VALUE.test(value)) return value;
  if (value === '' || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new RenderError(`${what} ${JSON.stringify(value)} is empty or contains control characters`, { code: 'bad-value' });
  }
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** A comment line's text, with line breaks flattened so user data cannot end the comment. */
export function commentText(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}
