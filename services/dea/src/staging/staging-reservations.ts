/**
 * The memory of the stagings running on this DEA. A staging container is capped at the app's
 * memory like an instance, so while it runs that memory is as taken as an instance's: the
 * advertiser subtracts it, and the controller places nothing in it.
 */
export class StagingReservations {
  private readonly byTask = new Map<string, number>();

  reserve(taskId: string, memoryMb: number): void {
    this.byTask.set(taskId, memoryMb);
  }

  release(taskId: string): void {
    this.byTask.delete(taskId);
  }

  running(taskId: string): boolean {
    return this.byTask.has(taskId);
  }

  count(): number {
    return this.byTask.size;
  }

  memoryMb(): number {
    let sum = 0;
    for (const mb of this.byTask.values()) sum += mb;
    return sum;
  }
}
