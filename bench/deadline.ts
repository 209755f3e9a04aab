/** Waits for promise at most ms; past that, fails saying what it waited for and what was seen (seen() is read then). */
export function within<T>(promise: Promise<T>, ms: number, what: string, seen: () => string = () => ''): Promise<T> {
  let timer: NodeJS.Timeout
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const tail = seen()
      reject(new Error(`Waited ${ms / 1000} s for ${what}${tail ? `; last seen:\n${tail.slice(-1500)}` : ''}`))
    }, ms)
  })
  return Promise.race([promise, late]).finally(() => clearTimeout(timer))
}
