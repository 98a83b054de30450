// An old-style script (no import of the API: the global `cronium` from register.js).
import type {} from 'cronium/register';

const data = cronium.input<{ name: string; n: number }>();
const seen: number | null = cronium.getVariable<number>('seen');
const stored: true = cronium.setVariable('seen', (seen ?? 0) + 1);
const condition: boolean = cronium.setCondition(data.n > 1);
cronium.output({ hello: data.name, event: cronium.event().eventName, condition, stored, now: cronium.getCondition() });

export {};
