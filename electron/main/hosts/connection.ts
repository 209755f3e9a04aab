// What a backend needs from the host its machines run on, whether that is this machine or another one
// over SSH: run a program (argv, never a shell string of Berth's making), write a file, and run a
// program in a terminal. Xen uses it today; QEMU and nspawn can run on remote hosts through it later.

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

/** A program running in a pseudo-terminal (local node-pty, or an SSH channel with a pty). */
export interface Terminal {
  write(bytes: Uint8Array | string): void
  resize(cols: number, rows: number): void
  onData(listener: (bytes: Buffer) => void): void
  onExit(listener: () => void): void
  close(): void
}

export interface HostConnection {
  /** Names the host in messages: "lab (root@10.0.0.2:22)". */
  readonly label: string
  run(argv: string[], options?: { stdin?: string; timeoutMs?: number }): Promise<RunResult>
  /** Replaces the file atomically (a temporary file next to it, then a rename). */
  writeFile(path: string, content: string): Promise<void>
  openTerminal(argv: string[], size: { cols: number; rows: number }): Promise<Terminal>
  dispose(): void
}

/** POSIX shell quoting: what an SSH server's shell turns back into exactly these arguments. */
export function shellQuote(argv: string[]): string {
  return argv.map((arg) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`)).join(' ')
}

/** The argv that writes stdin to a file atomically, for hosts reached through a shell. */
export function atomicWriteArgv(path: string): string[] {
  return ['sh', '-c', 'mkdir -p "$(dirname "$1")" && cat > "$1.berth-tmp" && mv -f "$1.berth-tmp" "$1"', 'berth-write', path]
}
