// Newline-delimited text from a peer (QMP, the helper's pipes, a supervisor's control socket, a
// program's output): one splitter for all, with a size cap, so that no peer makes a reader keep an
// endless line in memory.

/** Longest line kept by default; longer ones are reported once and skipped up to their end. */
export const MAX_LINE_BYTES = 1024 * 1024

export class LineSplitter {
  private buffered = ''
  private discarding = false

  /** onLine gets each line without its newline; onOverlong the start of a line over maxBytes (once per line). */
  constructor(
    private readonly onLine: (line: string) => void,
    private readonly options: { maxBytes?: number; onOverlong?: (start: string) => void } = {},
  ) {}

  push(text: string): void {
    const max = this.options.maxBytes ?? MAX_LINE_BYTES
    this.buffered += text
    for (;;) {
      const newline = this.buffered.indexOf('\n')
      if (newline < 0) {
        // A UTF-16 unit is at most 3 bytes of UTF-8: short text is not measured on every chunk.
        if (this.buffered.length * 3 > max && Buffer.byteLength(this.buffered) > max) {
          if (!this.discarding) this.options.onOverlong?.(this.buffered)
          this.discarding = true
          this.buffered = ''
        }
        return
      }
      const line = this.buffered.slice(0, newline)
      this.buffered = this.buffered.slice(newline + 1)
      if (this.discarding) this.discarding = false
      else if (Buffer.byteLength(line) > max) this.options.onOverlong?.(line)
      else this.onLine(line)
    }
  }

  /** What is left after the last newline (a program's last line without one). */
  rest(): string {
    return this.discarding ? '' : this.buffered
  }
}

/** Reads a stream's text line by line (it is set to UTF-8). */
export function onLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void, options?: ConstructorParameters<typeof LineSplitter>[1]): LineSplitter {
  const splitter = new LineSplitter(onLine, options)
  stream.setEncoding('utf8')
  stream.on('data', (text: string) => splitter.push(text))
  return splitter
}

/** A line as JSON, or undefined when it is not JSON. */
export function parseJsonLine(line: string): unknown {
  try {
    return JSON.parse(line)
  } catch {
    return undefined
  }
}
