// The page's first act: connect to Berth while the rest of the window's code is still evaluated
// (main.ts imports this before Vue and the app), so the list's data is on its way sooner.
import { connect, takeSessionToken } from './client'

takeSessionToken()
export const connecting = connect()
