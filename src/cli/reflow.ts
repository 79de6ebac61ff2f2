// Command descriptions are written as prose broken at ~110 columns in the source; help wraps them to the
// terminal. Commander keeps every newline, so the source's breaks would show as ragged lines at 80
// columns: each paragraph of prose becomes one line again, for commander to wrap. A paragraph with an
// indented line (a table, a list of examples) is kept exactly as written: commander does not wrap those.

/** Joins the lines of each prose paragraph (paragraphs are separated by a blank line). */
export function reflow(text: string): string {
  return text
    .split(/\n[ \t]*\n/)
    .map((paragraph) => {
      const lines = paragraph.split('\n');
      if (lines.some((line) => /^\s/.test(line))) return paragraph;
      return lines.map((line) => line.trim()).filter(Boolean).join(' ');
    })
    .join('\n\n');
}
