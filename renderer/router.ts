import { createRouter, createWebHashHistory } from 'vue-router'
import HomeView from './features/machines/HomeView.vue'

// Pages load when first opened: the window and its machine list paint before the terminal, screen
// and graph libraries that only a machine's page needs have arrived.
const MachinePage = () => import('./features/machines/MachinePage.vue')
const CreateWizard = () => import('./features/vm-wizard/CreateWizard.vue')
const SettingsView = () => import('./features/vm-wizard/SettingsView.vue')
const ContainerWizard = () => import('./features/containers/ContainerWizard.vue')
const NetworksPage = () => import('./features/networks/NetworksPage.vue')
const HostReadiness = () => import('./features/host/HostReadiness.vue')
const HostsPage = () => import('./features/hosts/HostsPage.vue')
const XenWizard = () => import('./features/xen/XenWizard.vue')

/** Created after the session token has been taken out of the address (the hash router rewrites it). */
export const createAppRouter = () =>
  createRouter({
    history: createWebHashHistory(),
    routes: [
      { path: '/', component: HomeView },
      { path: '/new', component: CreateWizard },
      { path: '/new/container', component: ContainerWizard },
      { path: '/new/xen', component: XenWizard },
      { path: '/hosts', component: HostsPage },
      { path: '/networks', component: NetworksPage },
      { path: '/host', component: HostReadiness },
      { path: '/machines/:id/settings', component: SettingsView, props: true },
      { path: '/machines/:id/:tab(overview|display|drives|snapshots|console|shell)?', component: MachinePage, props: true },
    ],
  })
