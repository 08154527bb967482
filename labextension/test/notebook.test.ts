import { describe, expect, it } from 'vitest';
import { MAX_NOTEBOOK_CHARS, fitFrame, outputsText } from '../src/notebook/agent';

describe('notebook attachments', () => {
  it('renders outputs as text: streams, text/plain, errors, other mime types', () => {
    const text = outputsText([
      { output_type: 'stream', name: 'stdout', text: ['4', '2\n'] },
      { output_type: 'execute_result', data: { 'text/plain': '42', 'text/html': '<b>42</b>' } },
      { output_type: 'display_data', data: { 'image/png': 'iVBOR' } },
      { output_type: 'error', ename: 'NameError', evalue: "name 'x' is not defined" }
    ]);
    expect(text).toBe("42\n\n42\n[image/png]\nNameError: name 'x' is not defined");
    expect(outputsText([{ output_type: 'stream', text: 'x'.repeat(50) }], 10)).toBe(
      'xxxxxxxxxx… [cut]'
    );
  });

  it('fits a huge notebook under the frame budget, outputs first', () => {
    const cells = Array.from({ length: 100 }, (_, i) => ({
      id: `c${i}`,
      source: 'a'.repeat(20_000),
      outputs: 'o'.repeat(4000)
    })) as Array<Record<string, unknown>>;
    fitFrame(cells);
    const size = cells.reduce(
      (n, c) => n + String(c.source).length + String(c.outputs ?? '').length,
      0
    );
    expect(size).toBeLessThanOrEqual(MAX_NOTEBOOK_CHARS);
    expect(cells[0].outputs).toBeUndefined();
    expect(String(cells[0].source)).toContain('[cut by the panel]');
    const small = [{ id: 'a', source: 'x = 1', outputs: '1' }] as Array<Record<string, unknown>>;
    fitFrame(small);
    expect(small[0]).toEqual({ id: 'a', source: 'x = 1', outputs: '1' });
  });
});
