// Where a region's data lives, in words, for the sign-up page. Region ids are configuration
// (SIDECHART_REGIONS); the common ones are named here, any other is shown by its id.
const PLACES: Readonly<Record<string, string>> = {
  local: 'on this server (development)',
  au: 'in Australia',
  nz: 'in New Zealand',
  uk: 'in the United Kingdom',
  gb: 'in the United Kingdom',
  eu: 'in the European Union',
  us: 'in the United States',
  ca: 'in Canada',
  sg: 'in Singapore',
};

export interface RegionChoice {
  id: string;
  /** "in Australia": completes "Your clinic's data will be stored …". */
  place: string;
}

export function describeRegion(id: string): RegionChoice {
  const known = PLACES[id] ?? PLACES[id.split('-')[0] ?? ''];
  return { id, place: known ?? `in the "${id}" region` };
}
