export async function runCrowded() {
  return { rows: [], notes: [] };
}
