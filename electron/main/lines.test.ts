import { describe, expect, it } from 'vitest'
import { LineSplitter, parseJsonLine } from './lines'

describe('LineSplitter', () => {
  const split = (chunks: string[], maxBytes?: number) => {
    const lines: string[] = []
    const overlong: string[] = []
    const splitter = new LineSplitter((line) => lines.push(line), { maxBytes, onOverlong: (start) => overlong.push(start) })
    for (const chunk of chunks) splitter.push(chunk)
    return { lines, overlong, rest: splitter.rest() }
  }

  it('joins lines split across chunks and keeps what follows the last newline', () => {
    expect(split(['{"a":', '1}\n{"b"', ':2}\nhalf'])).toEqual({ lines: ['{"a":1}', '{"b":2}'], overlong: [], rest: 'half' })
  })

  it('reports a line over the cap once, keeps none of it, and goes on after its end', () => {
    const { lines, overlong } = split(['x'.repeat(6), 'x'.repeat(6), 'y\nok\n', 'z'.repeat(11), '\nfine\n'], 10)
    expect(lines).toEqual(['ok', 'fine'])
    expect(overlong.map((s) => s.length)).toEqual([12, 11])
  })

  it('counts bytes, not characters', () => {
    expect(split(['é'.repeat(6) + '\n'], 10).overlong).toHaveLength(1)
    expect(split(['é'.repeat(5) + '\n'], 10).lines).toEqual(['é'.repeat(5)])
  })
})

describe('parseJsonLine', () => {
  it('gives undefined for what is not JSON', () => {
    expect(parseJsonLine('{"ok":true}')).toEqual({ ok: true })
    expect(parseJsonLine('{"ok":')).toBeUndefined()
    expect(parseJsonLine('')).toBeUndefined()
  })
})
