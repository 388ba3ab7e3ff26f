// A shop backend's calls through the real @segment/analytics-node: an order, a page, an
// identify, one batch (flushAt 3), then a flush. Usage: node node_send.mjs HOST WRITE_KEY DEVICE
import { Analytics } from '@segment/analytics-node'

const [host, writeKey, device] = process.argv.slice(2)
const analytics = new Analytics({
  writeKey,
  host,
  path: '/segment/v1/batch',
  flushAt: 3,
  flushInterval: 60000,
  maxRetries: 3,
})
analytics.on('error', (error) => console.error('analytics-node error:', error))

analytics.track({
  anonymousId: device,
  userId: 'u_sdk',
  event: 'Order Completed',
  properties: {
    order_id: 'SO-SDK-1',
    total: 398,
    currency: 'CNY',
    products: [{ product_id: 'LIP-0042', category: 'lipstick', price: 199, quantity: 2 }],
  },
})
analytics.page({ anonymousId: device, name: 'Home', properties: { url: 'https://shop.example/' } })
analytics.identify({ anonymousId: device, userId: 'u_sdk', traits: { email: 'a@shop.example' } })
await analytics.closeAndFlush({ timeout: 20000 })
