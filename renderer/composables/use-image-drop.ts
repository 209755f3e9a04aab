// Makes an element a drop target for disk images and ISOs; shows what a drop will do. One element may
// stand for many machines (the list's rows share one set of handlers): machineAt names the machine
// under the pointer, or null where a drop would go nowhere.
import { ref } from 'vue'
import { useDropStore } from '../stores/drop'

export function useImageDrop(machineAt: (event: DragEvent) => string | null) {
  const drops = useDropStore()
  /** The machine a file is being dragged over. */
  const over = ref<string | null>(null)
  /** What the drop will do, as far as can be told before the file's content is read. */
  const hint = ref('')

  const carriesFiles = (event: DragEvent) => Array.from(event.dataTransfer?.types ?? []).includes('Files')
  /** dragenter and dragover both: a target takes a drop only when both are cancelled. */
  const hover = (event: DragEvent) => {
    const id = carriesFiles(event) ? machineAt(event) : null
    if (!id) return void (over.value = null)
    event.preventDefault()
    if (event.dataTransfer) event.dataTransfer.dropEffect = 'copy'
    if (over.value === id) return
    over.value = id
    const type = event.dataTransfer?.items[0]?.type ?? ''
    hint.value = /iso9660|cd-image/.test(type)
      ? 'Drop to put this disc in the CD drive'
      : 'Drop to attach: a disk image becomes a disk, an ISO goes into the CD drive (checked first)'
  }

  return {
    over,
    hint,
    handlers: {
      dragenter: hover,
      dragover: hover,
      dragleave(event: DragEvent) {
        // Leaving for one of the target's own children is not leaving it.
        const to = event.relatedTarget as Node | null
        if (!to || !(event.currentTarget as Node).contains(to)) over.value = null
      },
      drop(event: DragEvent) {
        event.preventDefault()
        const id = machineAt(event)
        over.value = null
        const file = event.dataTransfer?.files[0]
        if (file && id) void drops.drop(id, file)
      },
    },
  }
}
