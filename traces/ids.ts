/**
 * @module traces/ids
 * Packet and flow ids in hyperid's format (base64 of a UUID, then a counter), so
 * `hyperid.decode(id)` reads them back. hyperid's own generator takes its UUID from
 * crypto randomness, which would make two replays with the same seed differ; here the UUID
 * comes from the replay's seed instead, and the counter is the same sequential one.
 */

export class IdGenerator {
  private readonly base: string;
  private count = 0;

  /** @param seedWords four u32 words drawn from the replay's seeded generator */
  constructor(seedWords: readonly [number, number, number, number]) {
    const bytes = Buffer.alloc(16);
    for (let i = 0; i < 4; i++) bytes.writeUInt32BE(seedWords[i]! >>> 0, i * 4);
    // Mark it as a version-4, RFC 4122 variant UUID, as hyperid's uuidv4() would be.
    bytes[6] = (bytes[6]! & 0x0f) | 0x40;
    bytes[8] = (bytes[8]! & 0x3f) | 0x80;
    // hyperid: base64 of the 16 bytes plus two padding bytes, trailing '=' replaced by '/'.
    const b64 = Buffer.concat([bytes, Buffer.from('==', 'base64')]).toString('base64');
    this.base = b64.replace(/=+$/, '/');
  }

  next(): string {
    const id = this.base + this.count;
    this.count = (this.count + 1) | 0;
    return id;
  }
}
