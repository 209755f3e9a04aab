// The last lines of a console log, as one line a person can read in an error message.

/** Bytes read from the end of a log to find its last lines. */
export const TAIL_BYTES = 4096

export function lastLines(text: string, count: number): string {
  return text
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '') // terminal escapes
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean)
    .slice(-count)
    .join(' | ')
}
