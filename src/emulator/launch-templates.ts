// Launch template versions as EC2 keeps them, where moto does not (registered in server.ts; row in
// test/README.md):
//
//   EC2 CreateLaunchTemplateVersion with UserData
//     moto stores the new version's UserData unparsed, and every later launch from that version (an Auto
//     Scaling group on $Default, an instance refresh) fails in moto with HTTP 500. Here the user data is
//     taken out before moto sees the call and kept by template and version; the version is stored without it.
//     https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateLaunchTemplateVersion.html
//   EC2 DescribeLaunchTemplateVersions
//     answers the kept user data in each such version's LaunchTemplateData, as AWS does.
//     https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeLaunchTemplateVersions.html
// Not served: the user data of instances launched from such a version (moto's instances have none; the
// local node agent gives each node its settings itself).
import type { ServerResponse } from 'node:http';
import type { ForwardingModule, StandinRequest, Upstream } from './server.js';

const tag = (xml: string, name: string): string | undefined => new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1];

/** The top-level <item>s of a set, with where each starts and ends (items nest). */
function topItems(xml: string, set: string): Array<{ start: number; end: number; text: string }> {
  const open = xml.indexOf(`<${set}>`);
  if (open < 0) return [];
  const items: Array<{ start: number; end: number; text: string }> = [];
  const re = new RegExp(`<item>|</item>|</${set}>`, 'g');
  re.lastIndex = open;
  let depth = 0;
  let start = -1;
  for (let m = re.exec(xml); m; m = re.exec(xml)) {
    if (m[0] === `</${set}>` && depth === 0) break;
    if (m[0] === '<item>') (depth === 0 && (start = m.index), depth++);
    else if (--depth === 0) items.push({ start, end: m.index + m[0].length, text: xml.slice(start, m.index + m[0].length) });
  }
  return items;
}

function relay(res: ServerResponse, answer: { status: number; headers: Record<string, unknown> }, body: Buffer): void {
  const headers = Object.fromEntries(Object.entries(answer.headers).filter(([k, v]) => typeof v === 'string' && !['transfer-encoding', 'connection', 'content-length'].includes(k))) as Record<string, string>;
  headers['content-length'] = String(body.length);
  res.writeHead(answer.status, headers).end(body);
}

export function launchTemplatesStandin(): ForwardingModule {
  /** `${templateId}:${version}` → base64 user data. */
  const userData = new Map<string, string>();
  return {
    async handle(req: StandinRequest, res: ServerResponse, upstream: Upstream): Promise<boolean> {
      const action = req.form?.get('Action');
      if (action !== 'CreateLaunchTemplateVersion' && action !== 'DescribeLaunchTemplateVersions') return false;
      const form = new URLSearchParams(req.form!);
      const data = form.get('LaunchTemplateData.UserData');
      if (action === 'CreateLaunchTemplateVersion') {
        if (!data) return false;
        form.delete('LaunchTemplateData.UserData');
        const body = Buffer.from(form.toString());
        const answer = await upstream({ method: req.method, path: req.path, headers: { ...req.headers, 'content-length': String(body.length) }, body });
        const xml = answer.body.toString('utf8');
        const id = tag(xml, 'launchTemplateId');
        const version = tag(xml, 'versionNumber');
        if (answer.status < 300 && id && version) userData.set(`${id}:${version}`, data);
        relay(res, answer, answer.body);
        return true;
      }
      if (!userData.size) return false;
      const answer = await upstream({ method: req.method, path: req.path, headers: req.headers, body: req.body });
      let xml = answer.body.toString('utf8');
      for (const item of topItems(xml, 'launchTemplateVersionSet').reverse()) {
        const kept = userData.get(`${tag(item.text, 'launchTemplateId')}:${tag(item.text, 'versionNumber')}`);
        if (!kept || item.text.includes('<userData>')) continue;
        const at = item.text.indexOf('<launchTemplateData>');
        if (at < 0) continue;
        const cut = at + '<launchTemplateData>'.length;
        xml = xml.slice(0, item.start) + item.text.slice(0, cut) + `<userData>${kept}</userData>` + item.text.slice(cut) + xml.slice(item.end);
      }
      relay(res, answer, Buffer.from(xml));
      return true;
    },
  };
}
