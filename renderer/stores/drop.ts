// One drop at a time, wherever it landed (machine list, machine page, console): get the file to the
// host (its path in Electron, an upload in browser mode), inspect it, let the person choose, attach.
import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { DriveBus, ImageInfo } from '../../shared/model/drives'
import type { ClientStream } from '../../shared/rpc/client'
import { useApi } from '../api/use-api'
import { useMachinesStore } from './machines'

type Phase = 'idle' | 'uploading' | 'inspecting' | 'confirm' | 'attaching' | 'error'

const UPLOAD_PIECE = 1024 * 1024
const remembered = (key: string, fallback: string) => localStorage.getItem(`berth.drop.${key}`) ?? fallback

export const useDropStore = defineStore('drop', () => {
  const api = useApi()
  const machines = useMachinesStore()
  const phase = ref<Phase>('idle')
  const machineId = ref<string | null>(null)
  const fileName = ref('')
  const uploaded = ref(0)
  const total = ref(0)
  const image = ref<ImageInfo | null>(null)
  const error = ref<string | null>(null)
  /** Backing files the person must agree to before attaching. */
  const needsConfirmation = ref<string[]>([])
  const bus = ref<DriveBus>(remembered('bus', 'virtio') as DriveBus)
  const persist = ref(remembered('persist', 'true') === 'true')
  let upload: ClientStream<{ done: true }, { path: string }> | null = null

  function reset() {
    phase.value = 'idle'
    image.value = null
    error.value = null
    needsConfirmation.value = []
    uploaded.value = 0
    total.value = 0
  }

  function fail(e: unknown) {
    phase.value = 'error'
    error.value = e instanceof Error ? e.message : String(e)
  }

  /** Sends the file into Berth's image folder; resolves with its path there. */
  async function uploadFile(file: File): Promise<string> {
    phase.value = 'uploading'
    total.value = file.size
    let resolvePath!: (path: string) => void
    let rejectPath!: (error: Error) => void
    const done = new Promise<string>((resolve, reject) => ((resolvePath = resolve), (rejectPath = reject)))
    upload = await api.require().openStream('images.upload', { name: file.name, size: file.size }, {
      onAck: (bytes) => (uploaded.value += bytes),
      onControl: ({ path }) => resolvePath(path),
      onClose: (reason) => rejectPath(reason ?? new Error('The upload was cancelled')),
    })
    for (let offset = 0; offset < file.size && upload && !upload.closed; offset += UPLOAD_PIECE) {
      upload.write(new Uint8Array(await file.slice(offset, offset + UPLOAD_PIECE).arrayBuffer()))
      await upload.drained()
    }
    upload?.control({ done: true })
    try {
      return await done
    } finally {
      upload = null
    }
  }

  async function drop(id: string, file: File): Promise<void> {
    if (phase.value === 'uploading' || phase.value === 'attaching') return
    reset()
    machineId.value = id
    fileName.value = file.name
    try {
      const path = window.berthBridge ? window.berthBridge.pathForFile(file) : await uploadFile(file)
      await inspect(path)
    } catch (e) {
      fail(e)
    }
  }

  async function inspect(path: string): Promise<void> {
    phase.value = 'inspecting'
    image.value = await api.require().call('images.inspect', { path })
    fileName.value = path.split('/').pop() ?? path
    needsConfirmation.value = image.value.backingOutsideAllowed
    phase.value = 'confirm'
  }

  /** "Attach an existing image": a path on the host, no upload. */
  async function choosePath(id: string, path: string): Promise<void> {
    reset()
    machineId.value = id
    fileName.value = path
    await inspect(path).catch(fail)
  }

  async function attach(): Promise<void> {
    if (!image.value || !machineId.value) return
    localStorage.setItem('berth.drop.bus', bus.value)
    localStorage.setItem('berth.drop.persist', String(persist.value))
    phase.value = 'attaching'
    try {
      await machines.act('drives.attach', {
        id: machineId.value,
        path: image.value.path,
        bus: bus.value,
        persist: persist.value,
        allowOutsideBacking: needsConfirmation.value.length > 0,
      })
      reset()
    } catch (e) {
      fail(e)
    }
  }

  function cancel(): void {
    upload?.close() // the server removes the partial file
    upload = null
    reset()
  }

  return { phase, machineId, fileName, uploaded, total, image, error, needsConfirmation, bus, persist, drop, choosePath, attach, cancel }
})
