#!/usr/bin/python3
# What an installation medium is and what its operating system needs, from libosinfo (as virt-manager
# and GNOME Boxes ask it). Usage: osinfo.py MEDIUM [DATABASE_FOLDER...]; prints one JSON object.
# The system's database (osinfo-db), /etc/osinfo and the person's ~/.config/osinfo are read first,
# then each folder given (Berth's own, with the entries the person imported).
import json
import sys

import gi

gi.require_version('Libosinfo', '1.0')
from gi.repository import GLib, Libosinfo  # noqa: E402


def resources(list_, arch):
    """The entry for this architecture, or the one for all."""
    found = {r.get_architecture(): r for r in list_.get_elements()}
    r = found.get(arch) or found.get('all')
    if not r:
        return None
    def positive(v):
        return v if v and v > 0 else None
    return {'ramBytes': positive(r.get_ram()), 'storageBytes': positive(r.get_storage()), 'cpus': positive(r.get_n_cpus())}


def main():
    path, folders = sys.argv[1], sys.argv[2:]
    loader = Libosinfo.Loader()
    loader.process_default_path()
    for folder in folders:
        loader.process_path(folder)
    db = loader.get_db()
    try:
        media = Libosinfo.Media.create_from_location(path, None)
    except GLib.Error as error:
        print(json.dumps({'error': error.message}))
        return
    answer = {
        'volumeId': media.get_volume_id(),
        'systemId': media.get_system_id(),
        'publisherId': media.get_publisher_id(),
        'applicationId': media.get_application_id(),
        'os': None,
    }
    if db.identify_media(media):
        os = media.get_os()
        arch = media.get_architecture() or 'x86_64'
        devices = [d.get_name() for d in os.get_all_devices(None).get_elements()]
        answer['os'] = {
            'id': os.get_id(),
            'shortId': os.get_short_id(),
            'name': os.get_name(),
            'version': os.get_version(),
            'family': os.get_family(),
            'distro': os.get_distro(),
            'vendor': os.get_vendor(),
            'arch': arch,
            'installer': media.get_installer(),
            'live': media.get_live(),
            'recommended': resources(os.get_recommended_resources(), arch),
            'minimum': resources(os.get_minimum_resources(), arch),
            'devices': devices,
        }
    print(json.dumps(answer))


main()
