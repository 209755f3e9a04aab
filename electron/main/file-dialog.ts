// The Electron window's file chooser: the desktop's own open dialog, filtered by what is looked for.
// The page only says which kind; the dialog, run by the main process, returns the path the person chose.
import { fileKinds, isFileKind } from '../../shared/model/files'

export interface OpenDialog {
  (options: { title: string; properties: ['openFile']; filters: { name: string; extensions: string[] }[] }): Promise<{ canceled: boolean; filePaths: string[] }>
}

/** The chosen file's path, or null when the person cancelled; a kind Berth does not know is refused. */
export async function chooseFile(kind: unknown, show: OpenDialog): Promise<string | null> {
  if (!isFileKind(kind)) return null
  const { label, extensions } = fileKinds[kind]
  const filters = extensions.length ? [{ name: label, extensions: [...extensions] }, { name: 'All files', extensions: ['*'] }] : []
  const answer = await show({ title: `Choose: ${label}`, properties: ['openFile'], filters })
  return answer.canceled ? null : (answer.filePaths[0] ?? null)
}
