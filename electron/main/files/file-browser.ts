// The browser-mode file chooser's view of this computer: only inside the places Berth offers (the
// person's home, Berth's image folder, folders the person added), never /etc, other users' homes or
// device nodes; symbolic links count where they lead. The choices a person made are remembered
// (newest first).
import { readdir, readFile, realpath, stat } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { dirname, join, sep } from 'node:path'
import { z } from 'zod'
import { BerthError } from '../../../shared/errors'
import type { FolderListing } from '../../../shared/model/files'
import { writeFileAtomic } from '../store/atomic-write'

const RECENT = 10
const settingsSchema = z.object({ recentFiles: z.array(z.string()).default([]), places: z.array(z.string()).default([]) }).passthrough()
type Settings = z.infer<typeof settingsSchema>

/** Folders of the system, never offered as a place (nor anything in the ones marked deep). */
const systemFolders = ['/', '/bin', '/sbin', '/lib', '/lib64', '/usr', '/var', '/opt', '/home', '/tmp', '/srv', '/mnt', '/media']
const systemTrees = ['/etc', '/dev', '/proc', '/sys', '/run', '/boot', '/root']

export class FileBrowser {
  /** One remembered choice at a time: two at once would lose one. */
  private saving: Promise<unknown> = Promise.resolve()

  constructor(
    private readonly places: () => { label: string; path: string }[],
    private readonly settingsFile: string,
    private readonly uid = process.getuid?.() ?? 0,
  ) {}

  /** The places that exist (Berth's and the person's), each by its real path. */
  private async realPlaces(): Promise<{ label: string; path: string }[]> {
    const added = (await this.settings()).places.map((path) => ({ label: path.split('/').at(-1) || path, path }))
    const found = await Promise.all([...this.places(), ...added].map(async (place) => ({ ...place, path: await realpath(place.path).catch(() => '') })))
    return found.filter((place) => place.path)
  }

  private async settings(): Promise<Settings> {
    const text = await readFile(this.settingsFile, 'utf8').catch(() => '{}')
    // A settings file that is not what Berth wrote counts as empty (the next change rewrites it).
    let json: unknown = {}
    try {
      json = JSON.parse(text)
    } catch {
      // left empty
    }
    const parsed = settingsSchema.safeParse(json)
    return parsed.success ? parsed.data : { recentFiles: [], places: [] }
  }

  /** Changes the settings in turn with every other change (none is lost) and writes them atomically. */
  private change<T>(work: (settings: Settings) => { next: Settings; result: T }): Promise<T> {
    const next = this.saving.then(async () => {
      const { next: settings, result } = work(await this.settings())
      await writeFileAtomic(this.settingsFile, JSON.stringify(settings, null, 2))
      return result
    })
    this.saving = next.catch(() => undefined)
    return next
  }

  /**
   * A folder of the person's own added to the places: a real folder, not one of the system's (/etc,
   * /dev, /proc...) and not another user's.
   */
  async addPlace(path: string): Promise<void> {
    const real = await realpath(path).catch(() => null)
    if (!real) throw new BerthError('not_found', `${path} does not exist`)
    const info = await stat(real)
    if (!info.isDirectory()) throw new BerthError('conflict', `${path} is a file: add the folder that holds it`)
    if (systemFolders.includes(real) || systemTrees.some((tree) => real === tree || real.startsWith(`${tree}/`)))
      throw new BerthError('conflict', `${real} is a folder of the system: add a folder of your own, e.g. where you keep your ISO images`)
    if (info.uid !== this.uid && info.uid !== 0) throw new BerthError('conflict', `${real} belongs to another user: Berth shows only your own folders`)
    await this.change((settings) => ({ next: { ...settings, places: [...settings.places.filter((p) => p !== real), real] }, result: undefined }))
  }

  private static inside(path: string, places: { path: string }[]): boolean {
    return places.some((place) => path === place.path || path.startsWith(place.path.endsWith(sep) ? place.path : place.path + sep))
  }

  /** The folder (its real path) when it lies inside a place; refused with what may be browsed otherwise. */
  private async allowed(dir: string, places: { path: string }[]): Promise<string> {
    const real = await realpath(dir).catch(() => null)
    if (!real) throw new BerthError('not_found', `${dir} does not exist`)
    if (!FileBrowser.inside(real, places))
      throw new BerthError('conflict', `${dir} is outside the folders Berth shows (${places.map((p) => p.path).join(', ')}): move the file into one of them, or type its path`)
    return real
  }

  async list(dir?: string): Promise<FolderListing> {
    const places = await this.realPlaces()
    if (!places.length) throw new BerthError('not_found', 'None of the folders Berth shows exists')
    const recent = await this.recent()
    const start = dir ?? (recent[0] ? dirname(recent[0]) : places[0]!.path)
    const real = await this.allowed(start, places).catch((error) => (dir ? Promise.reject(error) : places[0]!.path))
    const info = await stat(real)
    if (!info.isDirectory()) throw new BerthError('conflict', `${real} is a file, not a folder`)
    const entries: FolderListing['entries'] = []
    for (const entry of await readdir(real, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue
      const path = join(real, entry.name)
      // Followed: a link counts as what it leads to, and only when that is inside a place too.
      const target = entry.isSymbolicLink() ? await realpath(path).catch(() => null) : path
      if (!target || !FileBrowser.inside(target, places)) continue
      const about = await stat(target).catch(() => null)
      if (!about || !(about.isDirectory() || about.isFile())) continue
      entries.push({ name: entry.name, path, folder: about.isDirectory(), size: about.isFile() ? about.size : 0, modified: about.mtime.toISOString() })
    }
    entries.sort((a, b) => Number(b.folder) - Number(a.folder) || a.name.localeCompare(b.name))
    const parent = dirname(real)
    return { dir: real, parent: parent !== real && FileBrowser.inside(parent, places) ? parent : null, entries, places, recent }
  }

  async recent(): Promise<string[]> {
    return (await this.settings()).recentFiles.filter((path) => existsSync(path))
  }

  /** A file the person chose goes first in the recent choices. */
  async remember(path: string): Promise<string[]> {
    const real = await this.allowed(path, await this.realPlaces())
    return this.change((settings) => {
      const recentFiles = [real, ...settings.recentFiles.filter((p) => p !== real)].slice(0, RECENT)
      return { next: { ...settings, recentFiles }, result: recentFiles.filter((p) => existsSync(p)) }
    })
  }
}
