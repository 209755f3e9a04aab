import { BerthError } from '../../../shared/errors'

/** The work's result, or an 'unavailable' error with this message after ms. */
export function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([work, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new BerthError('unavailable', message)), ms)))]).finally(() =>
    clearTimeout(timer),
  )
}
