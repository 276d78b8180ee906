export async function runDeliveryIsolation() {
  return { rows: [], notes: [] };
}
