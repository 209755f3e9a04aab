// What the display proxy reads of a SPICE channel's opening, to close it without crashing QEMU.
// spice-server 0.15 (Debian 12) hands a new display or cursor channel to its worker thread after the
// link; a client that leaves before the worker has taken it (a person opening the Display tab and
// leaving it at once) makes that thread use a freed channel, and QEMU dies of SIGSEGV. A channel is
// safe to close once the server has spoken on it after the link (the worker has it); the main
// channel, whose end ends every other channel of the session, once all of them are.

/** SPICE's main channel (SPICE_CHANNEL_MAIN). */
export const MAIN_CHANNEL = 1
/** SpiceLinkHeader: magic, major and minor version, size of what follows (little-endian u32s). */
const HEADER_BYTES = 16
/** The link result the server sends after the client's ticket: one u32. */
const RESULT_BYTES = 4

export class SpiceLinkWatch {
  /** The channel's type, from the client's SpiceLinkMess (null until its first 21 bytes passed). */
  channelType: number | null = null
  private fromClient = Buffer.alloc(0)
  private serverHeader = Buffer.alloc(0)
  private serverBytes = 0
  /** Bytes the server sends before it speaks on the channel: its link reply and the link result. */
  private linkBytes: number | null = null

  client(chunk: Buffer): void {
    if (this.channelType !== null) return
    this.fromClient = Buffer.concat([this.fromClient, chunk])
    // SpiceLinkMess after the header: connection_id (u32), channel_type (u8), ...
    if (this.fromClient.length > HEADER_BYTES + 4) {
      this.channelType = this.fromClient[HEADER_BYTES + 4]!
      this.fromClient = Buffer.alloc(0)
    }
  }

  server(chunk: Buffer): void {
    this.serverBytes += chunk.length
    if (this.linkBytes !== null) return
    this.serverHeader = Buffer.concat([this.serverHeader, chunk.subarray(0, HEADER_BYTES - this.serverHeader.length)])
    if (this.serverHeader.length === HEADER_BYTES) this.linkBytes = HEADER_BYTES + this.serverHeader.readUInt32LE(12) + RESULT_BYTES
  }

  /** The server has sent more than the link: the channel is running and may be closed. */
  get settled(): boolean {
    return this.linkBytes !== null && this.serverBytes > this.linkBytes
  }
}
