// A shop backend's calls through the real @rudderstack/rudder-sdk-node: an order, a page, an
// identify, then a flush; prints what failed, if anything. Usage: node rudder_node_send.mjs
// DATA_PLANE_URL WRITE_KEY DEVICE (DATA_PLANE_URL: the collector's /segment, the SDK adds /v1/batch)
import Analytics from '@rudderstack/rudder-sdk-node'

const [dataPlaneUrl, writeKey, device] = process.argv.slice(2)
const client = new Analytics(writeKey, {
  dataPlaneUrl,
  flushAt: 3,
  flushInterval: 60000,
  retryCount: 3,
  logLevel: 'error',
})
const calls = []
const sent = (name) => {
  const call = { name }
  calls.push(call)
  return (error) => { call.error = error ? String(error) : null }
}

client.track(
  {
    anonymousId: device,
    userId: 'u_rudder',
    event: 'Order Completed',
    properties: {
      order_id: 'SO-RS-1',
      total: 398,
      currency: 'CNY',
      products: [{ product_id: 'LIP-0042', category: 'lipstick', price: 199, quantity: 2 }],
    },
  },
  sent('track')
)
client.page(
  { anonymousId: device, userId: 'u_rudder', name: 'Home', properties: { url: 'https://shop.example/' } },
  sent('page')
)
client.identify({ anonymousId: device, userId: 'u_rudder', traits: { email: 'a@shop.example' } }, sent('identify'))
await client.flush()
await new Promise((resolve) => setTimeout(resolve, 50)) // the calls' callbacks run on setImmediate
console.log(JSON.stringify(calls))
if (calls.some((c) => c.error !== null)) process.exit(1)
