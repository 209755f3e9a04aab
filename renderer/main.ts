import { connecting } from './api/early-connection'
import { createApp } from 'vue'
import { createPinia } from 'pinia'
import '@xterm/xterm/css/xterm.css'
import './styles.css'
import App from './App.vue'
import { createAppRouter } from './router'
import { useApi } from './api/use-api'

const app = createApp(App).use(createPinia()).use(createAppRouter())
const api = useApi()
connecting.then((client) => api.set(client)).catch((error: Error) => api.fail(error.message))
app.mount('#app')
