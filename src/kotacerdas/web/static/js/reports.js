/* kotacerdas: the report form. Plain ES2017, no library, no build step.
 * Everything here enhances a form that works without it: a click on the kecamatan map fills latitude
 * and longitude and names the kecamatan, "use my location" asks the browser for the point, and open
 * reports of the same category nearby are suggested (support one instead of filing it again).
 * Texts come from data-* attributes the server rendered in the page's language; whatever comes from
 * the API is put into the page as text, never as HTML. */
(() => {
  'use strict';

  const parseDegree = (value) => {
    const text = String(value || '').trim().replace(',', '.').replace('\u2212', '-');
    return /^-?\d{1,3}(\.\d{1,12})?$/.test(text) ? parseFloat(text) : null;
  };

  // the projection of region/pages.py area_map, carried by the SVG's data-* attributes
  const frameOf = (svg) => {
    const d = svg.dataset;
    return { minLon: +d.minLon, maxLat: +d.maxLat, kx: +d.kx, scale: +d.scale, pad: +d.pad };
  };
  const toXY = (f, lon, lat) => ({
    x: f.pad + (lon - f.minLon) * f.kx * f.scale,
    y: f.pad + (f.maxLat - lat) * f.scale,
  });
  const toLonLat = (f, x, y) => ({
    lon: f.minLon + (x - f.pad) / (f.kx * f.scale),
    lat: f.maxLat - (y - f.pad) / f.scale,
  });

  const areaAt = (svg, x, y) => {
    const point = svg.createSVGPoint();
    point.x = x;
    point.y = y;
    for (const group of svg.querySelectorAll('g.area')) {
      const path = group.querySelector('path');
      if (path && path.isPointInFill(point)) return group.dataset.name;
    }
    return null;
  };

  const element = (tag, attrs, text) => {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([name, value]) => node.setAttribute(name, value));
    if (text !== undefined) node.textContent = text;
    return node;
  };

  function setUpReportForm(form) {
    const lat = form.querySelector('input[name=lat]');
    const lon = form.querySelector('input[name=lon]');
    const category = form.querySelector('select[name=category]');
    const csrf = form.querySelector('input[name=csrf_token]');
    const confirmNew = document.getElementById('confirm-new');
    const live = document.getElementById('nearby-live');
    const figure = document.getElementById('report-map');
    const svg = figure ? figure.querySelector('svg') : null;
    const frame = svg ? frameOf(svg) : null;
    const marker = svg ? svg.querySelector('g.marker') : null;
    const dot = marker ? marker.querySelector('circle') : null;
    const areaLabel = document.getElementById('map-area');
    const msg = form.dataset;
    const regionQuery = msg.linkRegion ? `?region=${encodeURIComponent(msg.linkRegion)}` : '';
    let asked = '';

    const hideNearby = () => {
      live.hidden = true;
      live.textContent = '';
    };

    const showNearby = (found) => {
      live.textContent = '';
      if (!found.length) {
        live.hidden = true;
        return;
      }
      live.appendChild(element('h2', {}, msg.msgSimilar));
      live.appendChild(element('p', { class: 'small' }, msg.msgSimilarHelp));
      const list = element('ul', { class: 'nearby-list' });
      found.forEach((item) => {
        const report = item.report;
        const path = `/reports/${encodeURIComponent(report.tracking_no)}`;
        const entry = element('li');
        const text = element('div');
        text.appendChild(element('a', { href: path + regionQuery }, report.title));
        const facts = [
          report.tracking_no,
          report.state_label,
          msg.msgAway.replace('{m}', Math.round(item.distance_m)),
          msg.msgSupporters.replace('{n}', report.supporters),
        ];
        text.appendChild(element('span', { class: 'muted small' }, ` ${facts.join(' · ')}`));
        entry.appendChild(text);
        const support = element('form', { method: 'post', action: `${path}/support${regionQuery}`, class: 'inline' });
        support.appendChild(element('input', { type: 'hidden', name: 'csrf_token', value: csrf ? csrf.value : '' }));
        support.appendChild(element('button', { type: 'submit' }, msg.msgSupport));
        entry.appendChild(support);
        list.appendChild(entry);
      });
      live.appendChild(list);
      live.hidden = false;
      if (confirmNew) confirmNew.value = '1'; // seen: sending now means a new report on purpose
    };

    const lookNearby = async () => {
      const la = parseDegree(lat.value);
      const lo = parseDegree(lon.value);
      const code = category ? category.value : '';
      if (!code || la === null || lo === null) {
        asked = '';
        hideNearby();
        return;
      }
      const key = `${code}|${la}|${lo}`;
      if (key === asked) return;
      asked = key;
      const query = new URLSearchParams({ category: code, lat: String(la), lon: String(lo) });
      try {
        const response = await fetch(`${msg.nearbyUrl}?${query}`, {
          headers: { Accept: 'application/json' },
          credentials: 'same-origin',
        });
        if (!response.ok) {
          hideNearby();
          return;
        }
        const found = await response.json();
        if (key === asked && Array.isArray(found)) showNearby(found);
      } catch (error) {
        hideNearby(); // offline or refused: the server suggests them when the form is sent
      }
    };

    const showPoint = (lookup = true) => {
      const la = parseDegree(lat.value);
      const lo = parseDegree(lon.value);
      if (svg && marker && dot) {
        if (la === null || lo === null) {
          marker.setAttribute('display', 'none');
          if (areaLabel) areaLabel.textContent = '';
        } else {
          const p = toXY(frame, lo, la);
          dot.setAttribute('cx', p.x.toFixed(1));
          dot.setAttribute('cy', p.y.toFixed(1));
          marker.removeAttribute('display');
          const name = areaAt(svg, p.x, p.y);
          if (areaLabel) {
            areaLabel.textContent = name ? figure.dataset.msgArea.replace('{name}', name) : figure.dataset.msgOutside;
          }
        }
      }
      if (lookup) lookNearby();
    };

    if (svg) {
      svg.classList.add('clickable');
      svg.addEventListener('click', (event) => {
        const matrix = svg.getScreenCTM();
        if (!matrix) return;
        const point = svg.createSVGPoint();
        point.x = event.clientX;
        point.y = event.clientY;
        const inside = point.matrixTransform(matrix.inverse());
        const where = toLonLat(frame, inside.x, inside.y);
        lat.value = where.lat.toFixed(6);
        lon.value = where.lon.toFixed(6);
        showPoint();
      });
    }
    lat.addEventListener('change', () => showPoint());
    lon.addEventListener('change', () => showPoint());
    if (category) category.addEventListener('change', lookNearby);

    const locate = document.getElementById('use-location');
    const status = document.getElementById('location-status');
    if (locate && 'geolocation' in navigator) {
      locate.hidden = false;
      locate.addEventListener('click', () => {
        navigator.geolocation.getCurrentPosition(
          (position) => {
            lat.value = position.coords.latitude.toFixed(6);
            lon.value = position.coords.longitude.toFixed(6);
            if (status) status.textContent = '';
            showPoint();
          },
          () => {
            if (status) status.textContent = locate.dataset.msgFail;
          },
          { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 },
        );
      });
    }
    // a form sent back by the server: place the point; its suggestions, if any, are already shown
    if (lat.value && lon.value) showPoint(!document.getElementById('similar'));
  }

  const form = document.getElementById('report-form');
  if (form) setUpReportForm(form);
})();
