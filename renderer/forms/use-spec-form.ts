// What every machine wizard does with its form: check it with the contract's schema, ask the main
// process for the preview, create or update, and show each error at its field (the server names
// fields by their path in the request, spec.x.y; the form by x.y), one message above the form.
import { ref } from 'vue'
import { useRouter } from 'vue-router'
import type { z } from 'zod'
import { fieldErrorsOf, type FieldErrors } from '../../shared/errors'
import type { Machine, MachineSpec } from '../../shared/model/machine'
import { zodFieldErrors } from '../../shared/model/zod-fields'
import { useMachinesStore } from '../stores/machines'

/** Field errors from the main process name paths in the request ({ spec }); the form's are in the spec. */
export const specFieldErrors = (errors: FieldErrors): FieldErrors =>
  Object.fromEntries(Object.entries(errors).map(([field, message]) => [field.replace(/^spec\./, ''), message]))

export interface SpecFormOptions<S extends MachineSpec> {
  /** The spec the form describes now, before its schema has checked it. */
  toSpec: () => unknown
  schema: z.ZodType<S, unknown>
  /** The stopped machine being edited; undefined for a new one. */
  editing?: Machine
  /** Shows where the errors are (opens the step of the first one, or scrolls to it). */
  reveal?: (errors: FieldErrors) => void
  /** The message above the form when fields have errors of their own (null: none). */
  summary?: string | null
  /** After a new machine was made (e.g. forget the kept draft). */
  created?: () => void
}

export function useSpecForm<S extends MachineSpec>(options: SpecFormOptions<S>) {
  const store = useMachinesStore()
  const router = useRouter()
  const errors = ref<FieldErrors>({})
  const message = ref<string | null>(null)
  const busy = ref(false)
  const summary = options.summary === undefined ? 'Some fields need attention: see the messages below' : options.summary

  /** Shows these errors (none: clears them); true when there are some. */
  function show(found: FieldErrors, why: string | null = null): boolean {
    errors.value = found
    const some = Object.keys(found).length > 0
    message.value = some ? (why ?? summary) : null
    if (some) options.reveal?.(found)
    return some
  }

  /** The checked spec, or null with its errors shown. */
  function spec(): S | null {
    const parsed = options.schema.safeParse(options.toSpec())
    if (parsed.success) return parsed.data
    show(zodFieldErrors(parsed.error))
    return null
  }

  /** Runs a request with the spec; its field errors go to their fields, anything else above the form. */
  async function request<T>(work: (spec: S) => Promise<T>): Promise<T | null> {
    const checked = spec()
    if (!checked) return null
    busy.value = true
    try {
      return await work(checked)
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error)
      if (!show(specFieldErrors(fieldErrorsOf(error)), why)) message.value = why
      return null
    } finally {
      busy.value = false
    }
  }

  /** What the machine will run as (and, for Xen, its xl.cfg; for a container, what needs a password). */
  const preview = () =>
    request(async (checked) => {
      const answer = await store.act('machines.preview', { spec: checked, id: options.editing?.id })
      show({})
      return answer
    })

  /** Creates the machine or saves the edited one, then opens its page. */
  const save = () =>
    request(async (checked) => {
      const editing = options.editing
      const machine = editing
        ? await store.act('machines.update', { id: editing.id, spec: checked })
        : await store.act('machines.create', { spec: checked })
      if (!editing) options.created?.()
      await router.push(`/machines/${machine.id}`)
      return machine
    })

  return { errors, message, busy, show, preview, save }
}
