// Makes an element a drop target for disk images and ISOs on one machine; shows what a drop will do.
import { ref, type Ref } from 'vue'
import { useDropStore } from '../stores/drop'

export function useImageDrop(machineId: Ref<string>) {
  const drops = useDropStore()
  const over = ref(false)
  /** What the drop will do, as far as can be told before the file's content is read. */
  const hint = ref('')
  let depth = 0

  const carriesFiles = (event: DragEvent) => Array.from(event.dataTransfer?.types ?? []).includes('Files')

  return {
    over,
    hint,
    handlers: {
      dragenter(event: DragEvent) {
        if (!carriesFiles(event)) return
        event.preventDefault()
        depth++
        over.value = true
        const type = event.dataTransfer?.items[0]?.type ?? ''
        hint.value = /iso9660|cd-image/.test(type)
          ? 'Drop to put this disc in the CD drive'
          : 'Drop to attach: a disk image becomes a disk, an ISO goes into the CD drive (checked first)'
      },
      dragover(event: DragEvent) {
        if (!carriesFiles(event)) return
        event.preventDefault()
        if (event.dataTransfer) event.dataTransfer.dropEffect = 'copy'
      },
      dragleave() {
        depth = Math.max(0, depth - 1)
        if (depth === 0) over.value = false
      },
      drop(event: DragEvent) {
        event.preventDefault()
        depth = 0
        over.value = false
        const file = event.dataTransfer?.files[0]
        if (file) void drops.drop(machineId.value, file)
      },
    },
  }
}
