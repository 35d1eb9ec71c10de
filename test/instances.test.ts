import { describe, expect, test } from 'vitest';
import {
  INSTANCE_TYPES,
  instanceTypeProblem,
  instanceTypesFor,
  maxMicroBatch,
  trainingMemory,
  typesThatFit,
} from '../pipeline-steps/instances.ts';

describe('the instance catalog', () => {
  test('every accepted type has a price, vCPUs, memory and (for GPU types) its GPUs', () => {
    for (const [name, t] of Object.entries(INSTANCE_TYPES)) {
      expect(name).toMatch(/^ml\.[a-z0-9]+\.[0-9]*x?large$/);
      expect(t.usdPerHour, name).toBeGreaterThan(0);
      expect(t.priceSource, name).not.toBe('');
      expect(t.vcpus * t.memoryGiB, name).toBeGreaterThan(0);
      expect(Boolean(t.gpu), name).toBe(t.gpus > 0);
    }
    expect(instanceTypesFor('training')).toEqual([
      'ml.g5.12xlarge',
      'ml.g5.2xlarge',
      'ml.g6e.2xlarge',
      'ml.p4d.24xlarge',
    ]);
    expect(instanceTypesFor('processing')).toContain('ml.r5.4xlarge'); // Dedup's default has a price
  });

  test('a refused type names the accepted ones', () => {
    expect(instanceTypeProblem('ml.g5.2xlarge', 'training')).toBeUndefined();
    expect(instanceTypeProblem('ml.g5.huge', 'training')).toMatch(/not a known instance type; expected one of ml\.g5/);
    expect(instanceTypeProblem('ml.r5.4xlarge', 'training')).toMatch(/not used for training jobs here/);
  });

  test('full fine-tuning of Llama 2 7B does not fit 4 × A10G; LoRA does; p4d takes both', () => {
    const full = trainingMemory('full', 'ml.g5.12xlarge', { seqLen: 4096, microBatch: 1 });
    expect(full.fits).toBe(false);
    expect(full.perGpuGiB).toBeGreaterThan(24);
    expect(full.breakdown).toMatch(/16 B × 6\.74B params \/ 4 GPUs/);
    expect(trainingMemory('lora', 'ml.g5.12xlarge', { seqLen: 4096, microBatch: 1 }).fits).toBe(true);
    expect(typesThatFit('full', 4096)).toEqual(['ml.p4d.24xlarge']);
    expect(trainingMemory('full', 'ml.g5.12xlarge', { seqLen: 4096, microBatch: 1, instanceCount: 2 }).fits).toBe(true);
    // a longer batch needs more: the micro-batch cap shrinks with the sequence length
    expect(maxMicroBatch('ml.g5.12xlarge', 4096)).toBeLessThan(maxMicroBatch('ml.g5.12xlarge', 2048));
    expect(maxMicroBatch('ml.g5.12xlarge', 4096)).toBeGreaterThanOrEqual(1);
  });
});
