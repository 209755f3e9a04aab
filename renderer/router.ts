import { createRouter, createWebHashHistory } from 'vue-router'
import HomeView from './features/machines/HomeView.vue'
import MachinePage from './features/machines/MachinePage.vue'
import CreateWizard from './features/vm-wizard/CreateWizard.vue'
import SettingsView from './features/vm-wizard/SettingsView.vue'
import ContainerWizard from './features/containers/ContainerWizard.vue'
import NetworksPage from './features/networks/NetworksPage.vue'
import HostReadiness from './features/host/HostReadiness.vue'
import HostsPage from './features/hosts/HostsPage.vue'
import XenWizard from './features/xen/XenWizard.vue'

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
      { path: '/machines/:id/:tab(overview|display|drives|console|shell)?', component: MachinePage, props: true },
    ],
  })
