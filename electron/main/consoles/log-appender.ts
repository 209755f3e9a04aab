// A console log written by Berth itself (the Xen console, whose bytes come from xl console): chunks
// appended in order on one descriptor, without blocking the main process; each chunk is handed on
// only once it is in the log, so a viewer's history and its live bytes join at an exact offset.
import { open, type FileHandle } from 'node:fs/promises'

/** How long a failed write (a full disk) waits before it is tried again; nothing is skipped. */
const RETRY_MS = 1000

export class LogAppender {
  private file: Promise<FileHandle> | null = null
  private last: Promise<void> = Promise.resolve()
  private closed = false

  constructor(private readonly path: string) {}

  /** Appends chunk after everything appended before; then calls written(chunk). */
  append(chunk: Buffer, written: (chunk: Buffer) => void): void {
    this.last = this.last.then(async () => {
      for (;;) {
        if (this.closed) return
        try {
          this.file ??= open(this.path, 'a', 0o600)
          const file = await this.file
          for (let at = 0; at < chunk.length; ) at += (await file.write(chunk, at)).bytesWritten
          break
        } catch {
          this.file = null
          await new Promise((r) => setTimeout(r, RETRY_MS))
        }
      }
      written(chunk)
    })
  }

  /** Waits for what was appended so far, then closes the log. */
  async close(): Promise<void> {
    await this.last
    this.closed = true
    await (await this.file?.catch(() => null))?.close()
    this.file = null
  }
}
